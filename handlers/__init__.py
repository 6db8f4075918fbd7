"""The flows: channel-neutral features, registered on the pipeline in handlers/flows.py."""
