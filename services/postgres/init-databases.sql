-- One database per service (docs/design.md §7: each service owns its data), created on the first start of an empty
-- data volume. The official postgres image runs this as POSTGRES_USER; scripts/scaled-topology.py runs it the same
-- way on its own cluster. Each service creates its tables itself (migrations at start-up).
CREATE DATABASE identity;
CREATE DATABASE notes;
CREATE DATABASE keys;
