"""Tests of the pressure ledger: identities, change detection, rendering and the labelled stream."""
