#!/usr/bin/env bash
# A coordinator and three agents on this machine, for hands-on use: the daemons run
# deploy/examples/coordinator.yaml and agent.yaml (overridden only by CHAINKEEPERD_* variables for
# ports, directories and hooks) over real VHDX chains, go through the demo's walkthrough, and stay
# running; the script prints how to query them, the dashboard's address, and how to stop them.
# Arguments go to `chainkeeper demo` (e.g. --dir /tmp/mycluster to choose where it lives).
exec "$(dirname "$0")/../scripts/demo" --keep "$@"
