"""Bulk import and export of institutions, evidence and relationships (CSV and JSON).

- `resources.py`  the columns of each kind and how a row is saved: through the admin's services
- `importing.py`  read a file, run it in one transaction (dry run or for real), report per row
- `exporting.py`  what a staff member works on, in the columns the import reads back
- `pending.py`    an uploaded file kept server-side between its preview and its confirmation
- `rows.py`       raw rows into tables (COPY on PostgreSQL) for synthetic data at scale (`seed_scale`)

The admin page is `profiles/admin/bulk.py`; the command `manage.py import_profiles`.
"""
