"""What people and other programs use labctl through: the command line, IPython, the queue server's startup
module, serving simulators, the demo, the live display and the listing of stored runs."""
