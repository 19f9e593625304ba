"""Import of a client base from CSV and XLSX files: upload → mapping → preview → commit."""
