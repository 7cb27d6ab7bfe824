"""greenlink: green patents, city networks and the 3SLS system of the study on Spark + Delta."""

__version__ = "0.1.0"
