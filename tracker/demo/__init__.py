"""`tracker demo`: stand-ins of the official sites as they answer today, served on 127.0.0.1 and
run end to end; and the older sample shapes (`site/`) the evaluation scores on."""
