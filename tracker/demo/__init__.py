"""`tracker demo`: the bundled copy of the official sources, served on 127.0.0.1, run end to end."""
