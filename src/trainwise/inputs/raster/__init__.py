"""The raster input kind: multi-band GeoTIFF scenes with label rasters, as chips."""
