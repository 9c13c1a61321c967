"""The controllers, one module per actor: `public` (anyone), `citizens` and
`citizen_app` (holders), `sources` and `batch` (authentic sources), `verifiers`, and
`dev_idp` (the development identity provider, mounted only when enabled).

Thin by rule: parse the request, call a domain service, shape the answer. Domain errors
are left to `app.api.problems`, the one place where they become HTTP.
"""
