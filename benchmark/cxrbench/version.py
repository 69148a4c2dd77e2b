"""cxrbench: does synthetic chest X-ray data make pathology classifiers better and more general?"""

__version__ = "0.1.0"
