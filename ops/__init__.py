"""Operations: benchmarks and deployment material (not installed)."""
