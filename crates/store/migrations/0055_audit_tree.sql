-- The audit log's Merkle tree, kept as its stored hashes (Go's sumdb `tlog` layout,
-- `slipway_core::audit::checkpoint::stored`): hash `idx` is a leaf's hash or the hash of a
-- perfect subtree, written once, when the leaf that completes it is added, and never changed.
-- With them a checkpoint's root, an inclusion proof or a consistency proof of any size reads
-- O(log n) rows instead of hashing every event. The leaves they cover are those whose hashes
-- are all here: MAX(idx) + 1 is a whole number of leaves' hashes. 32 bytes of SHA-256 each
-- (BYTEA on PostgreSQL; SQLite stores the bytes as a blob under any declared type).
CREATE TABLE audit_tree (
    idx BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);
