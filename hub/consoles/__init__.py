"""Web pages for people: the privacy officers' console (/console), the worker's own pages
(/me) and the NGO's page (/care), logged in through OpenID Connect, rendered on the
server, their data only through the hub's GraphQL schema with the person's principal."""
