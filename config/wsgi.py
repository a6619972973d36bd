import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What loading the project made (settings, models, URLconf, schema classes: about 150,000
# objects) lives as long as the process. Freeze it out of the garbage collector's full scans,
# and let the youngest generation grow before a collection: a 500-row page allocates thousands
# of objects, which at the default threshold (700) means several collections per request, and
# now and then a full one over everything loaded. Measured in docs/benchmarks.md.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 20)
