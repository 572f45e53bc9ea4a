"""Pipeline components: one trio task each, exchanging frozen fact messages over channels."""
