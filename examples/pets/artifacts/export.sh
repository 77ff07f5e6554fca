#!/bin/sh
# Nightly export of adoptions to the partner registry (example batch).
echo "exporting adoptions"
