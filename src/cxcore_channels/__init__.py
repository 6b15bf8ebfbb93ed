"""Survey channels that ship with cxcore, registered like any third-party plugin."""
