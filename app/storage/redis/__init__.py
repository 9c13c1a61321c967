"""The Redis store, on a single node or a Redis Cluster (`store`: RedisStore).

Lua scripts do every atomic step (`scripts`, `scripts_bulk`), sent over multiplexed
connections (`mux`); `keys` lays the data out in hash-tagged shards; `conn` parses the
URL and turns redis-py's errors into `StoreUnavailable`; `durability` reads the server's
persistence settings at start-up; `copy` is this store's side of `statuspass store copy`.

Nothing is imported here: an embedded installation never loads redis-py, and
`app.storage` imports this package only for a `redis://` URL.
"""
