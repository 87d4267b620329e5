from django.utils.functional import SimpleLazyObject

from .readers import reader_for_request


def reader(request):
    """Expose the request's Reader (`request.reader`: level, state) lazily, so pages that never ask pay nothing."""
    return {"reader": SimpleLazyObject(lambda: reader_for_request(request))}
