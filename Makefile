# `sam build` runs this (the template's `BuildMethod: makefile`), in the
# source tree (samconfig.toml sets `build_in_source`), with ARTIFACTS_DIR
# set to where the function's code goes. Both functions run one binary,
# built for Lambda's arm64 and linked statically against musl with no PIE,
# so nothing is loaded or relocated before `main` (docs/performance.md,
# "Linked statically"). The target's standard library comes from rustup.
TARGET ?= aarch64-unknown-linux-musl

.PHONY: build-NotifierFunction build-SlackRequestsFunction

build-NotifierFunction build-SlackRequestsFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: `sam build` sets it; run that))
	@if command -v rustup >/dev/null; then rustup target add $(TARGET); fi
	cargo lambda build --release --target $(TARGET) --bin ecs-slack-notifier \
		--lambda-dir "$(ARTIFACTS_DIR)" --flatten ecs-slack-notifier
