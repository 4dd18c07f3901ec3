"""What a submission is: a file, a notebook or a package, and how a class folder
is read into students."""
