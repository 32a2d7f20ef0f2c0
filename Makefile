# make targets for PGXN's client: `pgxn install pg_forget` unpacks the source
# distribution and runs `make PG_CONFIG=... all`, then `make PG_CONFIG=... install`
# (the latter under sudo unless --nosudo). pg_forget is Rust (pgrx), so `all`
# needs a Rust toolchain and cargo-pgrx 0.18.1 initialised for this PostgreSQL
# (`cargo pgrx init --pgNN $(PG_CONFIG)`); `install` only copies files, so it
# needs neither cargo nor the builder's $HOME.
#
#   make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config            release build
#   make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config install    [DESTDIR=...]
#   make PG_CONFIG=... uninstall
PG_CONFIG ?= pg_config
EXTENSION = pg_forget
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
PGMAJOR := $(shell $(PG_CONFIG) --version | sed 's/^[^0-9]*\([0-9]*\).*/\1/')
PKGLIBDIR := $(shell $(PG_CONFIG) --pkglibdir)
EXTDIR := $(shell $(PG_CONFIG) --sharedir)/extension
# where `cargo pgrx package` writes: <target>/release/pg_forget-pgNN/<pg_config's paths>
TREE = $(or $(CARGO_TARGET_DIR),target)/release/$(EXTENSION)-pg$(PGMAJOR)
# released install scripts (pgrx generates the current one) and every upgrade script
OLD_SQL = $(filter-out sql/$(EXTENSION)--$(VERSION).sql,$(wildcard sql/$(EXTENSION)--*.sql))

.PHONY: all install uninstall

all:
	cargo pgrx package --pg-config "$(PG_CONFIG)"

install:
	@test -f "$(TREE)$(PKGLIBDIR)/$(EXTENSION).so" || { echo "no build in $(TREE): run make PG_CONFIG=$(PG_CONFIG) first" >&2; exit 1; }
	install -d "$(DESTDIR)$(PKGLIBDIR)" "$(DESTDIR)$(EXTDIR)"
	install -m 755 "$(TREE)$(PKGLIBDIR)/$(EXTENSION).so" "$(DESTDIR)$(PKGLIBDIR)/"
	install -m 644 "$(TREE)$(EXTDIR)/$(EXTENSION).control" "$(TREE)$(EXTDIR)/$(EXTENSION)--$(VERSION).sql" $(OLD_SQL) "$(DESTDIR)$(EXTDIR)/"

uninstall:
	rm -f "$(DESTDIR)$(PKGLIBDIR)/$(EXTENSION).so" "$(DESTDIR)$(EXTDIR)/$(EXTENSION).control" "$(DESTDIR)$(EXTDIR)/$(EXTENSION)--"*.sql
