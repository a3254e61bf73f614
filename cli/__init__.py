"""The nvc command-line front end (click); the library stays free of CLI concerns."""
