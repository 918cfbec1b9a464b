"""Report: the book's charts and tables, how they render (static book, live widgets), the README's figures,
the Sphinx glue and papermill runs of a page."""

PAGES = ("intro", "answer", "theory", "nbody", "mnist", "beyond")  # the book's pages, in _toc.yml's order
