"""The audit log as evidence: the record format and its hash chain (`format`), signed
checkpoints (`checkpoints`, pure), signing and export over a store (`service`),
`audit verify` (`verify`) and the append-only archive of old records (`archive`).

The store appends and reads records (`app.storage`); what a record's hash covers and how
the log is proved whole is decided here. No re-exports: the store imports `format`
while `archive` imports the store, so each module is imported by its own name.
"""
