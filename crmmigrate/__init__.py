"""crmmigrate: move customer data from legacy systems into a new CRM, and clean it on the way."""

__version__ = "0.1.0"
