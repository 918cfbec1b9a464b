"""Report: the book's charts and tables, how they render (static book, live widgets), the README's figures,
the Sphinx glue and papermill runs of a page."""
