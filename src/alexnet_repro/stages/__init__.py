"""The entry points (one per DVC stage); src/<stage>.py and the alexnet-<stage> commands run them."""
