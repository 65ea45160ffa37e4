#!/bin/bash
# Scenario: `make demo` itself, inside the VM: FTP through a drop-by-default
# firewall fails without `gonfct run`, passes with it, fails again after it.
exec "$(dirname "$0")/../../demo" --inside
