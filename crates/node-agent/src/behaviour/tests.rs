//! Table-driven tests of the catalog, the reference rules and the interpreter.
