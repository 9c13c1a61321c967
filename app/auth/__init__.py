"""Citizen sign-in: the development identity provider (OpenID Connect, PKCE)."""
