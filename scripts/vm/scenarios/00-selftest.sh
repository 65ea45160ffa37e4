#!/bin/bash
# Scenario: the VM harness self-test (see scripts/vm/selftest.sh).
exec "$(dirname "$0")/../selftest.sh"
