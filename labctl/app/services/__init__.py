"""Servers that run beside the sessions: the run catalog served over HTTP (Tiled) and the queue server
(bluesky-queueserver, with bluesky-httpserver for remote control). See docs/deployment.md."""
