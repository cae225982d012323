"""opendcc: an open implementation of the GB DCC's SMETS1 Service.

DCC is the Data Communications Company; SMETS1 is the first generation of the Smart Metering
Equipment Technical Specifications. opendcc lets DCC Users operate SMETS1 meters through the
signed DUIS (DCC User Interface Specification) interface.
"""

__version__ = "0.1.0"
