"""The hub: a GraphQL integration hub for cities, police and NGOs around sex-work policy."""
