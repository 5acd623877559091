"""Controls: OSC, audio and mappings, behind the narrow ControlSink (sink.py); never the show."""
