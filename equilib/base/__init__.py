"""The ground floor: where things are (paths), how they are written (atomic cache, run store), and the checks
of user input that everything above uses."""
