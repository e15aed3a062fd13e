#!/usr/bin/env bash
set -euo pipefail
export GH_TOKEN=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
gh release create "$1"
