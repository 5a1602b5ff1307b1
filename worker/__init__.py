"""A reference worker: drives submissions through validation and submission to an archive.

It speaks only the product's public GraphQL API, over HTTP and WebSocket,
with a service token, and imports nothing of the server: copy this package
into a service of your own and start from it.

    client.py      GraphQL over HTTP (urllib) and WebSocket (graphql-transport-ws, websockets)
    validation.py  the rules records are checked against: pure functions
    archive.py     an archive stand-in that assigns accessions, or refuses
    worker.py      listen for work, claim it under a lease, do it, report as it goes
"""
