"""`tagger serve`: an HTTP server for tagging (`command`), its API (`app`, and UDPipe 2's in `udpipe`),
the thread that batches requests together (`batcher`), and the models it holds (`models`)."""
