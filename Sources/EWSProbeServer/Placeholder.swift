import EWSProbe
