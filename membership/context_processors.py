from django.utils.functional import SimpleLazyObject

from .gating import reader_for_request


def reader(request):
    """Expose the request's Reader (level, state) lazily, so pages that never ask pay nothing."""
    return {"reader": SimpleLazyObject(lambda: reader_for_request(request))}
