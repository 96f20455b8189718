"""The resources of a client: ``client.chat`` and ``client.models``, sync and async."""
