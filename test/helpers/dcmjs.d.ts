// dcmjs ships no type declarations; the tests only use it to write small DICOM fixtures.
declare module 'dcmjs';
