"""`tagger serve`: an HTTP server for tagging (`command`), its API (`app`, and UDPipe 2's in `udpipe`),
the tagging threads that batch requests together (`batcher`), and the models it holds (`models`)."""
