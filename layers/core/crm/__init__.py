"""The CRM platform's shared code, shipped to every function as the `core` Lambda layer."""
