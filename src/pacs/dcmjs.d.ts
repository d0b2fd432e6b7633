// dcmjs ships no type declarations; src/pacs/dicom-io.ts is the one typed door to it.
declare module 'dcmjs';
