"""Daily statistics, the dashboard's charts and the calibrated auto-send threshold."""
