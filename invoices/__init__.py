"""Invoices for completed orders, rendered as PDFs by a worker. Models arrive with that flow."""
