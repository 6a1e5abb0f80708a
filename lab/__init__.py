"""The lab: runs clusters under faults and checks what clients saw."""
